// Package e2e holds the end-to-end tests: they build eventbusd and ebctl,
// start a broker process and several client processes, and check what
// crosses the real sockets between them. It has no non-test code.
package e2e
