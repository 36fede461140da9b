// Copy buttons: each button with data-copy="ID" copies the text of element ID.
// The buttons are hidden until this script shows them, so pages work without it.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    var target = document.getElementById(button.getAttribute("data-copy"));
    if (!target) {
      return;
    }
    var label = button.textContent;
    button.hidden = false;
    button.addEventListener("click", function () {
      copyText(target).then(function () {
        button.textContent = "Copied";
      }, function () {
        selectText(target);
        button.textContent = "Press Ctrl+C";
      });
      setTimeout(function () { button.textContent = label; }, 2000);
    });
  });
});

function copyText(el) {
  var text = el.textContent;
  if (navigator.clipboard && window.isSecureContext) {
    return navigator.clipboard.writeText(text);
  }
  return new Promise(function (resolve, reject) {
    selectText(el);
    try {
      document.execCommand("copy") ? resolve() : reject();
    } catch (e) {
      reject(e);
    }
  });
}

function selectText(el) {
  var range = document.createRange();
  range.selectNodeContents(el);
  var sel = window.getSelection();
  sel.removeAllRanges();
  sel.addRange(range);
}
