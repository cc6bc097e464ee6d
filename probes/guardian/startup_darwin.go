package guardian

import (
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// processStart asks the kernel when pid started (kern.proc.pid's
// p_starttime), as ps does.
func processStart(pid int) (time.Time, error) {
	kp, err := unix.SysctlKinfoProc("kern.proc.pid", pid)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: sysctl kern.proc.pid.%d: %w", errNoStartTime, pid, err)
	}
	st := kp.Proc.P_starttime
	if st.Sec == 0 {
		return time.Time{}, fmt.Errorf("%w: no such process %d", errNoStartTime, pid)
	}
	return time.Unix(int64(st.Sec), int64(st.Usec)*1000), nil
}
