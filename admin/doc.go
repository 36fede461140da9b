// Package admin holds the administration operations of the command line
// (users and keys), run either directly on the database file or, while a
// server holds that file, by the server itself over a unix socket in the data
// directory that only the directory's owner can open. Both paths run the same
// operation code, so a key deleted from the command line reaches live MQTT
// sessions exactly as one deleted in the portal does.
package admin
