// Package procwatch is the process monitor: it watches /proc and publishes
// process starts and exits on the event bus, answers process-tree tasks and
// diagnostics requests, and sends heartbeats. cmd/procwatch is a thin main
// over Main, and ebctl's demo runs Run in a child process of its own.
//
// # Scans
//
// Every Config.Interval procwatch lists the numeric directories of /proc and
// reads each process's stat file. A process is its pid plus its start time,
// so a pid the kernel reused between two scans is reported as the old
// process stopping and the new one starting. For a process it has not seen
// before, procwatch also reads the command line, the executable link and the
// user id. Each change is a pb.ProcessEvent (KIND_START or KIND_STOP, with
// the time it was observed) published on events.process.lifecycle. A STOP
// carries what the START did, with the parent pid brought up to date.
//
// The first scan only records what runs already, unless Config.Initial is
// set, in which case every running process is published as a START. At most
// Config.MaxProcesses processes are tracked; further new processes are not
// reported until others exit, and the heartbeat and diagnostics count them
// as untracked.
//
// A scan sees only processes that live across a scan: one that starts and
// exits between two scans is never reported. Start times are as precise as
// the kernel's boot time (about a second), see procfs.Scanner.StartTime.
//
// # Tasks
//
// procwatch subscribes to control.collector.task.process in the queue group
// Config.Group ("procmond"), so that each task reaches one of several
// instances. A task is a pb.CollectorTask:
//
//	action "process_tree", parameters {"pid": "N"}
//
// publishes on events.process.tree one pb.ProcessEvent (KIND_MODIFY) for N
// and one for each of its ancestors up to pid 1, in that order, read afresh
// from /proc, each with Correlation{correlation_id: task_id, sequence: 1, 2,
// ...}. Any other action, or a task that cannot be carried out, is logged.
// When the task was sent as a request, procwatch answers it with a line of
// text: "ok: ..." or "error: ...".
//
// # Health
//
// Heartbeats go out every Config.Heartbeat on control.health.heartbeat with
// the status "ok" ("degraded" while /proc cannot be read or processes go
// untracked) and the details tracked, published, scans, scan_duration, and
// untracked, publish_failures and scan_error when they apply. A request on
// control.health.diagnostics is answered with a JSON object: collector, pid,
// started, uptime, interval, tracked_processes, untracked_processes,
// events_published, publish_failures, scans, last_scan_duration,
// last_scan_error.
package procwatch
