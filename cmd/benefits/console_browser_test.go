package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"ledger/infra/testkit"
)

// chromiumPackage is the Debian package .ci/run installs for the browser tests.
const chromiumPackage = "chromium"

// chromiumBinary is the browser Debian's /usr/bin/chromium wrapper execs. The tests
// start it directly: the wrapper's shell set-up (it runs findmnt and gates flags on its
// output) is one more thing that can fail under load, and the flag it would add for a
// small /dev/shm is set by openTab for every run.
const chromiumBinary = "/usr/lib/chromium/chromium"

// chromiumPath finds headless Chromium; without it the browser tests fail (they do not
// skip), naming the package to install.
func chromiumPath(t testing.TB) string {
	t.Helper()
	if info, err := os.Stat(chromiumBinary); err == nil && !info.IsDir() {
		return chromiumBinary
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatalf("headless Chromium is missing: install Debian's %q package (apt-get install -y %s; .ci/run does)", chromiumPackage, chromiumPackage)
	return ""
}

// browserStarts is how many times openTab tries to start Chromium. A browser that dies
// while starting on a loaded machine says nothing about the console; a second failure
// in a row fails the test with both reasons.
const browserStarts = 2

// browserTimeout bounds one browser test's work, so a hung page fails instead of
// holding the CI run.
const browserTimeout = 4 * time.Minute

// tab is one Chromium page driven over the DevTools protocol. It records every
// console error, uncaught exception, refused load and failed request; the test fails
// on any of them that it did not announce with expectRefusal.
type tab struct {
	t   testing.TB
	ctx context.Context

	mu       sync.Mutex
	problems []string
	expected []refusal
}

// refusal is an answer the test provokes on purpose (a partner reading another one).
type refusal struct {
	path   string
	status int64
}

// openTab starts a fresh headless Chromium (its own profile directory) with the
// flags this closed network needs, and one page in it.
func openTab(t testing.TB) *tab {
	t.Helper()
	var browserCtx context.Context
	var failures []string
	for attempt := 1; browserCtx == nil && attempt <= browserStarts; attempt++ {
		ctx, err := startBrowser(t)
		if err != nil {
			failures = append(failures, fmt.Sprintf("attempt %d: %v", attempt, err))
			t.Logf("starting Chromium, attempt %d of %d: %v", attempt, browserStarts, err)
			continue
		}
		browserCtx = ctx
	}
	if browserCtx == nil {
		t.Fatalf("starting Chromium failed %d times:\n%s", browserStarts, strings.Join(failures, "\n"))
	}
	// The timeout bounds the test's actions, not the browser's start (see chromedp.Run).
	ctx, cancelTimeout := context.WithTimeout(browserCtx, browserTimeout)
	t.Cleanup(cancelTimeout)
	b := &tab{t: t, ctx: ctx}
	if err := chromedp.Listen(ctx, b.observe); err != nil {
		t.Fatalf("listening to the page: %v", err)
	}
	if err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
			return err
		}
		if _, err := chromedp.Call(ctx, cdplog.Enable, cdp.Empty{}); err != nil {
			return err
		}
		_, err := chromedp.Call(ctx, runtime.Enable, cdp.Empty{})
		return err
	})); err != nil {
		t.Fatalf("enabling the page's reports: %v", err)
	}
	return b
}

// startBrowser starts one headless Chromium with its own profile directory and opens
// a tab; the test's clean-up closes it, whether it started or not.
func startBrowser(t testing.TB) (context.Context, error) {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 800),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	browserCtx, cancelBrowser := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancelBrowser()
		cancelAlloc()
	})
	if err := chromedp.Do(browserCtx); err != nil { // starts the browser and opens the tab
		return nil, err
	}
	return browserCtx, nil
}

// observe files what the page reports. It runs on chromedp's event loop: no blocking.
func (b *tab) observe(ev any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch e := ev.(type) {
	case *runtime.EventExceptionThrown:
		b.problems = append(b.problems, fmt.Sprintf("uncaught exception: %s %s", e.ExceptionDetails.Text, describe(e.ExceptionDetails.Exception)))
	case *runtime.EventConsoleAPICalled:
		if e.Type == runtime.ConsoleAPICalledTypeError || e.Type == runtime.ConsoleAPICalledTypeAssert {
			var args []string
			for _, a := range e.Args {
				args = append(args, describe(a))
			}
			b.problems = append(b.problems, fmt.Sprintf("console.%s: %s", e.Type, strings.Join(args, " ")))
		}
	case *cdplog.EventEntryAdded:
		if e.Entry.Level == cdplog.EntryLevelError && !b.isExpected(e.Entry.URL, 0) {
			b.problems = append(b.problems, fmt.Sprintf("console (%s): %s %s", e.Entry.Source, e.Entry.Text, e.Entry.URL))
		}
	case *network.EventResponseReceived:
		if e.Response.Status >= 400 && !b.isExpected(e.Response.URL, e.Response.Status) {
			b.problems = append(b.problems, fmt.Sprintf("request failed: %d %s", e.Response.Status, e.Response.URL))
		}
	case *network.EventLoadingFailed:
		// A fetch the page itself abandoned (leaving a page mid-poll) is no failure.
		if !e.Canceled {
			b.problems = append(b.problems, fmt.Sprintf("request failed: %s %s", e.ErrorText, e.BlockedReason))
		}
	}
}

func describe(o *runtime.RemoteObject) string {
	if o == nil {
		return ""
	}
	if len(o.Value) > 0 {
		return string(o.Value)
	}
	return o.Description
}

// isExpected reports whether url (and status, when known) is an announced refusal.
func (b *tab) isExpected(url string, status int64) bool {
	for _, r := range b.expected {
		if strings.Contains(url, r.path) && (status == 0 || status == r.status) {
			return true
		}
	}
	return false
}

// expectRefusal announces that the page will be refused path with status.
func (b *tab) expectRefusal(path string, status int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.expected = append(b.expected, refusal{path: path, status: status})
}

// requireClean fails the test on every problem the page reported so far.
func (b *tab) requireClean() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, p := range b.problems {
		b.t.Errorf("browser: %s", p)
	}
	b.problems = nil
}

// run runs the steps, each group bounded by testkit.HangBound so that a page that
// never shows what a step waits for fails the test in a minute, naming the step.
func (b *tab) run(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, testkit.HangBound)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.requireClean()
		b.t.Fatalf("%s: %v", what, err)
	}
}

// value runs an action that answers a value.
func value[T any](b *tab, what string, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, testkit.HangBound)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.requireClean()
		b.t.Fatalf("%s: %v", what, err)
	}
	return v
}

// evaluate runs JavaScript in the page and decodes its result.
func evaluate[T any](b *tab, js string) T {
	b.t.Helper()
	return value(b, "evaluate "+js, chromedp.Evaluate[T](js))
}

func (b *tab) js(js string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Evaluate[any](js)(ctx, t)
		return err
	})
}

// ready waits until page's data is on screen: the app marks body[data-ready].
func ready(page string) chromedp.Action[chromedp.Void] {
	return chromedp.WaitVisible(chromedp.CSS(`body[data-ready="` + page + `"]`))
}

// visit loads url as a fresh document and waits for page's data.
func (b *tab) visit(url, page string) {
	b.t.Helper()
	b.run("open "+url, chromedp.Navigate(url), ready(page))
}

// goTo follows an in-app link (no reload) and waits for the page's data.
func (b *tab) goTo(hash, page string) {
	b.t.Helper()
	b.run("go to "+hash, b.js(`location.hash = `+jsString(hash)), ready(page))
}

// signIn pastes a token into the sign-in field, as a user does.
func (b *tab) signIn(token, sub string) {
	b.t.Helper()
	b.run("sign in as "+sub,
		chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SetValue(chromedp.ID("token"), token),
		chromedp.Click(chromedp.CSS(`#signin button[type=submit]`)),
		chromedp.WaitVisible(chromedp.ID("whoami")))
	if got := b.text(`#who-sub`); got != sub {
		b.t.Fatalf("signed in as %q, want %q", got, sub)
	}
}

func (b *tab) signOut() {
	b.t.Helper()
	b.run("sign out", chromedp.Click(chromedp.ID("signout")), chromedp.WaitVisible(chromedp.ID("token")))
}

func (b *tab) click(sel string) {
	b.t.Helper()
	b.run("click "+sel, chromedp.Click(chromedp.CSS(sel)))
}

func (b *tab) text(sel string) string {
	b.t.Helper()
	return value(b, "read "+sel, chromedp.Text(chromedp.CSS(sel)))
}

// bodyText is what a reader sees on the page.
func (b *tab) bodyText() string {
	b.t.Helper()
	return evaluate[string](b, `document.body.innerText`)
}

// waitForText waits, inside the browser, until the page shows want.
func (b *tab) waitForText(want string) {
	b.t.Helper()
	value(b, "wait for "+want, chromedp.Poll[bool](`document.body.innerText.includes(`+jsString(want)+`)`,
		chromedp.WithPollingInterval(50*time.Millisecond)))
}

// press sends one key to whatever has the focus.
func (b *tab) press(key string) {
	b.t.Helper()
	b.run("press key", chromedp.KeyEvent(key))
}

// focused describes the element holding the keyboard focus.
type focused struct {
	ID      string `json:"id"`
	Tag     string `json:"tag"`
	Text    string `json:"text"`
	Label   string `json:"label"`
	Visible bool   `json:"visible"`
}

func (b *tab) focus() focused {
	b.t.Helper()
	return evaluate[focused](b, `(() => { const a = document.activeElement; const r = a.getBoundingClientRect();
		return {id: a.id, tag: a.tagName, text: (a.innerText || a.value || '').slice(0, 60),
		label: a.getAttribute('aria-label') || '', visible: r.width > 0 && r.height > 0}; })()`)
}

// viewport is a screen size the console must read well on.
type viewport struct {
	name          string
	width, height int64
	mobile        bool
}

var viewports = []viewport{{"desktop", 1280, 800, false}, {"phone", 390, 844, true}}

// artifactsDir is where screenshots go: test-artifacts/console at the repository's
// root (gitignored), kept after the test for a human to look at.
func artifactsDir(t testing.TB) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "..", "test-artifacts", "console"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("artifacts: %v", err)
	}
	return dir
}

// screenshots saves the whole page at each viewport, as <name>-<viewport>.png, and
// puts the desktop size back.
func (b *tab) screenshots(name string) {
	b.t.Helper()
	dir := artifactsDir(b.t)
	for _, v := range viewports {
		size := chromedp.EmulateViewport(v.width, v.height)
		if v.mobile {
			size = chromedp.EmulateViewport(v.width, v.height, chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulatePortrait)
		}
		b.run("resize to "+v.name, size)
		png := value(b, "screenshot "+name+" at "+v.name, chromedp.FullScreenshot(100))
		file := filepath.Join(dir, fmt.Sprintf("%s-%s.png", name, v.name))
		if err := os.WriteFile(file, png, 0o644); err != nil {
			b.t.Fatalf("screenshot: %v", err)
		}
	}
	b.run("desktop size", chromedp.ResetViewport())
}

// download clicks sel and returns the bytes of the file the page hands over.
func (b *tab) download(sel string) []byte {
	b.t.Helper()
	dir := b.t.TempDir()
	progress := chromedp.Events(b.ctx, browser.DownloadProgress)
	b.run("download "+sel, chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		enabled := true
		_, err := chromedp.Call(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
			Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: dir, EventsEnabled: &enabled})
		return err
	}), chromedp.Click(chromedp.CSS(sel)))
	for ev, err := range progress {
		if err != nil {
			b.t.Fatalf("download %s: %v", sel, err)
		}
		switch ev.State {
		case browser.DownloadProgressStateCompleted:
			raw, err := os.ReadFile(filepath.Join(dir, ev.GUID))
			if err != nil {
				b.t.Fatalf("download %s: %v", sel, err)
			}
			return raw
		case browser.DownloadProgressStateCanceled:
			b.t.Fatalf("download %s canceled", sel)
		}
	}
	b.t.Fatalf("download %s: no file", sel)
	return nil
}

// jsString is s as a JavaScript string literal.
func jsString(s string) string {
	raw, _ := json.Marshal(s) // a string always encodes
	return string(raw)
}
