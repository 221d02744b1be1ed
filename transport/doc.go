// Package transport carries event-bus traffic between processes on one host.
//
// A broker calls [Listen] on an endpoint and collectors call [Dial] on the
// same endpoint. The results are plain [net.Listener] and [net.Conn] values,
// so the layers above never see which mechanism is underneath. Endpoints are
// local only: on Unix they are Unix domain sockets and, on Windows, named
// pipes. There is deliberately no TCP or UDP transport, so a broker never
// opens a port another host could reach.
//
// # Security properties on Unix
//
// The socket lives in a directory that belongs to the broker's effective
// user. Listen creates that directory with mode 0700. An existing directory
// must be owned by the same user and must not be a symbolic link; otherwise
// Listen fails with [ErrInsecureDirectory]. Listen changes the mode or group
// of an existing directory only when the directory holds nothing but this
// endpoint's own files. That way a misconfigured endpoint such as
// /tmp/bus.sock can never lead a root broker to chmod /tmp. The directory
// grants search permission to group or others only when
// [ListenConfig.SocketMode] grants them write permission on the socket. That
// write bit is what connect(2) checks, so the directory never admits anyone
// the socket would turn away.
//
// The socket is bound under a temporary name in that directory. It gets its
// final mode and group there, and only then is it renamed onto the endpoint
// path. At no moment does the public path name a socket with looser
// permissions.
//
// A lock file next to the socket (<endpoint>.lock) is held with flock(2) for
// the lifetime of the listener. A second broker therefore gets [ErrInUse]
// instead of silently taking over the endpoint. A socket left behind by a
// broker that died is recognised as stale and replaced. Listen never removes
// anything at the endpoint path that is not a socket, and it never removes a
// socket that still accepts connections.
//
// [PeerCredentialsOf] reports the user, group and (where the kernel tells)
// process at the other end of a connection. The broker uses it for access
// control and auditing. A collector can use it on its own side to check that
// the broker it reached runs as the expected user.
//
// # Windows
//
// The Windows build compiles, but [Listen] and [Dial] return an error that
// wraps [errors.ErrUnsupported] until the named-pipe transport lands. That
// transport will live in listen_windows.go and dial_windows.go and return the
// same interfaces. Its access control will be a security descriptor on the
// pipe instead of file modes.
package transport
