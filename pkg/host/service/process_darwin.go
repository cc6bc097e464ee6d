package service

import (
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// szomb is the state of a process that has exited and not been reaped
// (SZOMB in the XNU's sys/proc.h; x/sys/unix does not export it).
const szomb = 5

// ProcessStart asks the kernel when pid started (kern.proc.pid's
// p_starttime), as ps does, without running ps. A zombie has ended: no
// start time.
func ProcessStart(pid int) (time.Time, error) {
	kp, err := unix.SysctlKinfoProc("kern.proc.pid", pid)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: sysctl kern.proc.pid.%d: %w", ErrNoStartTime, pid, err)
	}
	st := kp.Proc.P_starttime
	if st.Sec == 0 || kp.Proc.P_stat == szomb {
		return time.Time{}, fmt.Errorf("%w: no such process %d", ErrNoStartTime, pid)
	}
	return time.Unix(int64(st.Sec), int64(st.Usec)*1000), nil
}
