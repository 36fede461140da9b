package oauthweb

import (
	"strings"

	"github.com/wotkit/wotkit/storage"
)

// throttleAccount is the table key for a submitted user name: only names that
// could exist are tracked, so junk names cannot fill the table (the address
// table still counts them).
func throttleAccount(name string) string {
	name = strings.TrimSpace(name)
	if !storage.ValidUserName(name) {
		return ""
	}
	return name
}
