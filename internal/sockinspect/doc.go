// Package sockinspect lists the sockets a process holds, as seen through
// Linux's /proc. Tests use it to prove that a broker process has no TCP or
// UDP socket, only Unix domain sockets.
//
// It is test support: it reads kernel tables as text, trusts their layout
// and exists only on Linux.
package sockinspect
