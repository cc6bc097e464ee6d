//go:build !linux && !darwin

package main

import (
	"errors"
	"os/exec"
)

func selfPeakRSS() (float64, error) { return 0, errors.ErrUnsupported }

func pipedPeakRSS(*exec.Cmd, string) (float64, error) { return 0, errors.ErrUnsupported }
