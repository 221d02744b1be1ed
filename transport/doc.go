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
// On Windows an endpoint is a named pipe on this host, \\.\pipe\<name>
// (see [DefaultEndpoint]); pipes on other hosts are refused, and a Unix
// endpoint gives an error there, as a pipe endpoint does on Unix. Framing,
// limits and timeouts are those of the layers above and do not change.
//
// [Listen] creates the pipe with github.com/Microsoft/go-winio. The first
// instance is created exclusively (FILE_CREATE, the effect of
// FILE_FLAG_FIRST_PIPE_INSTANCE), so a pipe of the same name that already
// exists, whoever created it, makes Listen fail with [ErrInUse] instead of
// joining that pipe under its owner's security descriptor. Every instance
// rejects remote clients (PIPE_REJECT_REMOTE_CLIENTS).
//
// The pipe's security descriptor takes the place of file modes. By default
// its owner is the broker's user and its protected DACL grants full access
// to the broker's user, SYSTEM and Administrators and to nobody else:
//
//	O:<user SID>D:P(A;;GA;;;<user SID>)(A;;GA;;;SY)(A;;GA;;;BA)
//
// [ListenConfig.Group] adds an entry for a group:
//
//	(A;;0x12019b;;;<group SID>)
//
// That is read and write, but not FILE_CREATE_PIPE_INSTANCE, which
// GENERIC_WRITE would include and which would let a member create
// instances of the pipe and answer other clients in the broker's place.
// [Dial] asks for read and FILE_WRITE_DATA only, so that such an entry
// admits it. [ListenConfig.SDDL] replaces the whole descriptor.
//
// [PeerCredentialsOf] reports the peer's user SID, process id and
// executable; UID and GID are unused. On the broker's end the SID comes
// from the security context the client connected with, which the kernel
// captured when the client opened the pipe. [Dial] lets the broker
// identify the client (the identification impersonation level) but not act
// as it. A client that connects anonymously gets no credentials, and the
// broker refuses it.
package transport
