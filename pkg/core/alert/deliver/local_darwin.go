//go:build darwin

package deliver

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"

	"github.com/sanctum/council-probes/pkg/core/alert"
	"github.com/sanctum/council-probes/pkg/core/redact"
)

// NotifyLocal raises a macOS notification with osascript, as the off-box
// watchers do, for an urgent alert that could not reach Force Flow. The
// script is passed by argv with the text quoted for AppleScript; no shell is
// involved.
func NotifyLocal(ctx context.Context, n alert.Notice) error {
	script := fmt.Sprintf("display notification %s with title %s sound name \"Basso\"",
		appleScriptQuote(redact.String(n.Message)), appleScriptQuote(redact.String(n.Title)))
	out, err := exec.CommandContext(ctx, "osascript", "-e", script).CombinedOutput()
	if err != nil {
		return fmt.Errorf("osascript: %w: %s", err, out)
	}
	return nil
}

// appleScriptQuote renders s as an AppleScript string literal. AppleScript
// uses the same backslash escapes as Go for quotes and backslashes.
func appleScriptQuote(s string) string { return strconv.Quote(s) }
