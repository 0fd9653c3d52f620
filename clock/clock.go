// Package clock is the project's one source of time. Components take a Clock from
// their caller so the backtest can run the live code in virtual time.
package clock

import (
	"sync"
	"time"
)

// Clock tells the time. Loops that wait use the real time package; the work they
// run each tick takes its "now" from a Clock so it can be stepped in tests.
type Clock interface {
	Now() time.Time
}

// Real is the wall clock.
type Real struct{}

// Now returns time.Now.
func (Real) Now() time.Time { return time.Now() }

// Fake is a manually driven clock for tests and virtual time. The zero value is
// not useful: build one with NewFake.
type Fake struct {
	mu  sync.Mutex
	now time.Time
}

// NewFake returns a Fake clock stopped at t.
func NewFake(t time.Time) *Fake { return &Fake{now: t} }

// Now returns the clock's current time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// Set moves the clock to t, backwards too: tests use that to model clock jumps.
func (f *Fake) Set(t time.Time) {
	f.mu.Lock()
	f.now = t
	f.mu.Unlock()
}

// Advance moves the clock forward by d and returns the new time.
func (f *Fake) Advance(d time.Duration) time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
	return f.now
}
