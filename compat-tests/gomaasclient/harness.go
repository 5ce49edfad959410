package main

// The check harness: one PASS/FAIL/SKIP/KNOWN-FAIL line per resource round
// trip, then a pytest-like summary line (`N passed, M failed, K skipped, J
// xfailed in Xs`), the same shape as the gomaasapi suite in ../go/.

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"reflect"
	"runtime/debug"
	"strings"
	"time"

	gomaasapi "github.com/juju/gomaasapi/v2"
)

type suite struct {
	start                            time.Time
	passed, failed, skipped, xfailed int
	failures                         []string
}

// knownFailures maps a check name to the server gap that makes it fail today.
// Such a check is reported KNOWN-FAIL and does not fail the run; once it
// passes it fails the run until its entry is removed (like strict xfail).
var knownFailures = map[string]string{}

// errSkip marks a check whose endpoint this region does not serve (yet).
type errSkip struct{ why string }

func (e errSkip) Error() string { return e.why }

func skipf(format string, args ...interface{}) error {
	return errSkip{fmt.Sprintf(format, args...)}
}

func (s *suite) check(name string, fn func() error) bool {
	err := func() (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("panic: %v\n%s", r, debug.Stack())
			}
		}()
		return fn()
	}()
	var sk errSkip
	if errors.As(err, &sk) {
		s.skipped++
		fmt.Printf("SKIP %s: %s\n", name, sk.why)
		return false
	}
	reason, known := knownFailures[name]
	switch {
	case err == nil && known:
		s.failed++
		s.failures = append(s.failures, name)
		fmt.Printf("FAIL %s: passes but is listed as a known failure (%s): remove it from knownFailures\n", name, reason)
		return true
	case err == nil:
		s.passed++
		fmt.Printf("PASS %s\n", name)
		return true
	case known:
		s.xfailed++
		fmt.Printf("KNOWN-FAIL %s: %s\n    reason: %s\n", name, indent(err.Error()), reason)
		return false
	default:
		s.failed++
		s.failures = append(s.failures, name)
		fmt.Printf("FAIL %s: %s\n", name, indent(err.Error()))
		return false
	}
}

func indent(s string) string { return strings.ReplaceAll(s, "\n", "\n    ") }

func (s *suite) finish() {
	if len(s.failures) > 0 {
		fmt.Printf("failed: %s\n", strings.Join(s.failures, ", "))
	}
	fmt.Printf("%d passed, %d failed, %d skipped, %d xfailed in %.2fs\n",
		s.passed, s.failed, s.skipped, s.xfailed, time.Since(s.start).Seconds())
	if s.failed > 0 {
		os.Exit(1)
	}
}

// step wraps a client error with what was being done, so a FAIL line says
// which of the provider's calls broke.
func step(what string, err error) error {
	if err == nil {
		return nil
	}
	if se, ok := gomaasapi.GetServerError(err); ok {
		return fmt.Errorf("%s: HTTP %d: %s", what, se.StatusCode, se.BodyMessage)
	}
	return fmt.Errorf("%s: %v", what, err)
}

// status is the HTTP status a gomaasclient call failed with (0 if none).
func status(err error) int {
	if se, ok := gomaasapi.GetServerError(err); ok {
		return se.StatusCode
	}
	return 0
}

// gone checks that a read after delete fails with 404, which is what the
// provider's Read treats as "resource removed outside Terraform".
func gone(what string, err error) error {
	if err == nil {
		return fmt.Errorf("%s after delete: still there", what)
	}
	if status(err) != http.StatusNotFound {
		return step(what+" after delete (want 404)", err)
	}
	return nil
}

// unserved turns a 404 on a collection into a SKIP: the region does not
// have that handler yet.
func unserved(what string, err error) error {
	if status(err) == http.StatusNotFound {
		return skipf("%s: 404, not served by this region", what)
	}
	return step(what, err)
}

func eq(field string, got, want interface{}) error {
	if !reflect.DeepEqual(got, want) {
		return fmt.Errorf("%s read back %#v, want %#v", field, got, want)
	}
	return nil
}

// all returns the first non-nil error.
func all(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}
