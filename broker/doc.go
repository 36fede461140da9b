// Package broker runs wotkit's embedded mochi-mqtt server: its listeners (TCP,
// WebSocket, TLS), each connection behind a packet guard that closes
// malformed or silent connections before mochi decodes a byte, the hooks
// installed from package hooks, and a clean shutdown that tells clients.
package broker
