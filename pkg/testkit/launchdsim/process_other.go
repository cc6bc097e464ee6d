//go:build !unix

package launchdsim

// Programs are not started on systems without Unix process groups; the
// services still load, and print shows them not running.

func start(svc *Service) {
	svc.Runs++
	svc.PID = 0
	svc.LastExit = "78: EX_CONFIG"
}

func stop(svc *Service) { svc.PID = 0 }
