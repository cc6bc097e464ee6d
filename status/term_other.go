//go:build !unix

package status

import "io"

// terminalWidth is unknown off Unix: $COLUMNS or DefaultWidth decide.
func terminalWidth(io.Writer) int { return 0 }
