//go:build unix

package rotation

import (
	"errors"
	"syscall"
)

// processGone tells whether no process has pid. A process of another user
// (EPERM) or a zombie still counts as running.
func processGone(pid int) bool {
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}
