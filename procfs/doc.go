// Package procfs reads processes from a Linux /proc tree.
//
// The parsers (ParseStat, ParseCmdline, ParseStatusUIDs, ParseBootTime) are
// pure functions over the bytes of one file. A Scanner walks a proc tree
// rooted at any directory, so tests can point it at a fake tree built in
// t.TempDir(); System returns the Scanner for the real /proc and exists only
// on Linux: on other platforms it returns ErrUnsupported.
//
// What a Scanner reads, per process:
//
//	<root>/<pid>/stat     pid, comm, state, ppid, start time (every scan)
//	<root>/<pid>/cmdline  the arguments, NUL-separated (on demand)
//	<root>/<pid>/exe      the executable, a symbolic link (on demand)
//	<root>/<pid>/status   the Uid: line (on demand)
//	<root>/stat           the btime: line, once, to turn start times into wall-clock times
//
// Processes come and go while the tree is read. A process that vanishes
// between listing and reading is skipped without error, and a detail that
// cannot be read (a kernel thread's exe, another user's exe without
// CAP_SYS_PTRACE) is left empty.
//
// Text taken from the kernel (comm, command lines, paths) is arbitrary bytes;
// the Scanner returns it as valid UTF-8, replacing invalid sequences with
// U+FFFD, because protobuf string fields must be valid UTF-8.
package procfs
