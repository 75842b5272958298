// Package progress draws progress bars for the command-line tools.
package progress

import (
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// New returns a progress callback drawing a bar on stderr, and a
// function that finishes the bar. With quiet set, or when stderr is not a
// terminal (a log file, CI), both do nothing.
func New(desc string, quiet bool) (update func(done, total int), finish func()) {
	if quiet || !term.IsTerminal(int(os.Stderr.Fd())) {
		return func(int, int) {}, func() {}
	}
	bar := progressbar.NewOptions(-1, progressbar.OptionSetWriter(os.Stderr),
		progressbar.OptionSetDescription(desc), progressbar.OptionShowCount(),
		progressbar.OptionThrottle(200*time.Millisecond), progressbar.OptionClearOnFinish())
	return func(done, total int) {
			if bar.GetMax() != total {
				bar.ChangeMax(total)
			}
			bar.Set(done)
		}, func() {
			bar.Finish()
		}
}

// NewBytes is New for a count of bytes: the bar shows sizes and a rate.
func NewBytes(desc string, quiet bool) (update func(done, total int), finish func()) {
	if quiet || !term.IsTerminal(int(os.Stderr.Fd())) {
		return func(int, int) {}, func() {}
	}
	bar := progressbar.NewOptions64(-1, progressbar.OptionSetWriter(os.Stderr),
		progressbar.OptionSetDescription(desc), progressbar.OptionShowBytes(true),
		progressbar.OptionThrottle(200*time.Millisecond), progressbar.OptionClearOnFinish())
	return func(done, total int) {
			if bar.GetMax64() != int64(total) {
				bar.ChangeMax64(int64(total))
			}
			bar.Set64(int64(done))
		}, func() {
			bar.Finish()
		}
}
