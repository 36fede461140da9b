// Package oauthweb is wotkit's web face: the server-rendered portal (sign up,
// log in, keys, applications, authorized applications), the OAuth2
// authorization server, and the JSON HTTP API under /api/v1, on one echo
// instance.
//
// What it promises:
//   - every response, errors and static files included, carries the security
//     headers (CSP with frame-ancestors 'none', X-Frame-Options, Referrer-Policy,
//     X-Content-Type-Options);
//   - every state-changing form carries a CSRF token bound to the browser's
//     session (or, before login, to a pre-session cookie); a POST without the
//     right one is refused with 403;
//   - web sessions live server-side in the store, behind an HttpOnly,
//     SameSite=Lax cookie that holds only a random token;
//   - password logins (form and API) are throttled per account and per address,
//     with growing refusals answered 429 and Retry-After, in bounded memory;
//   - a secret (key password, client secret) is shown once, in the body of
//     the answer to the POST that made it, never in a URL, a log or a
//     cacheable page;
//   - keys, applications and grants are managed only with the user's own
//     password, never with a key or an access token;
//   - each grant on the token endpoint is one storage transaction that checks
//     everything, then consumes the code or refresh token and issues: a race
//     has one winner, and a refused request consumes nothing;
//   - the token, revocation and introspection endpoints read their parameters
//     from the form body only, and refuse a request that puts one in the URL.
//
// The package changes keys, applications and grants only through storage; storage tells the broker, so
// this package never imports the broker or its hooks.
package oauthweb
