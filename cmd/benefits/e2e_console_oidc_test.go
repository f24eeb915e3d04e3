package main

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/op"
	"golang.org/x/text/language"

	"ledger/handlers"
)

// consoleClientID is the console's public client at the test's OpenID provider.
const consoleClientID = "ledger-console"

// oidcProvider is a real OpenID provider (zitadel's OP with its in-memory example
// storage and login page) on loopback, whose one user is Contoso's admin.
type oidcProvider struct {
	issuer   string
	clients  map[string]*storage.Client
	username string
	password string
}

// startOIDCProvider listens first (the issuer is its address) and serves once the
// console's client is registered (registerConsole).
func startOIDCProvider(t *testing.T, sub string) (*oidcProvider, func(redirect string)) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &oidcProvider{issuer: "http://" + ln.Addr().String(), clients: map[string]*storage.Client{},
		username: "admin", password: "correct horse battery staple"}
	users := oneUser{&storage.User{ID: sub, Username: p.username, Password: p.password, FirstName: "Contoso", LastName: "Admin",
		Email: sub, EmailVerified: true, PreferredLanguage: language.English}}
	srv := httptest.NewUnstartedServer(nil)
	srv.Listener.Close()
	srv.Listener = ln
	t.Cleanup(srv.Close)
	return p, func(redirect string) {
		p.clients[consoleClientID] = storage.NativeClient(consoleClientID, redirect)
		st := storage.NewStorageWithClients(users, p.clients)
		srv.Config.Handler = exampleop.SetupServer(p.issuer, st, nil, false, op.WithAllowInsecure())
		srv.Start()
	}
}

// oneUser is the provider's user store: one user, found by ID or username.
type oneUser struct{ u *storage.User }

func (o oneUser) GetUserByID(id string) *storage.User {
	if id == o.u.ID {
		return o.u
	}
	return nil
}

func (o oneUser) GetUserByUsername(name string) *storage.User {
	if name == o.u.Username {
		return o.u
	}
	return nil
}

func (o oneUser) ExampleClientID() string { return storage.ServiceUserID }

// withOIDC is cfg accepting the provider's tokens, its console client signing in.
func withOIDC(cfg Config, p *oidcProvider) Config {
	cfg.OIDC = handlers.OIDCSettings{Issuer: p.issuer, ClientID: consoleClientID}
	return cfg
}

// TestConsoleSignsInThroughTheOIDCProviderAsThatUser: where the server names an OpenID
// provider, the console offers "Sign in with" it; the user logs in on the provider's
// own page, comes back to / with a code the console trades (PKCE, no secret) for an ID
// token, and lands on their dashboard as that user (the sub the provider vouches for,
// registered as Contoso's MPN-linked admin); the code is gone from the address bar.
// The API takes the provider's token and, beside it, the ledger's own HS256 tokens.
func TestConsoleSignsInThroughTheOIDCProviderAsThatUser(t *testing.T) {
	provider, serve := startOIDCProvider(t, "admin@contoso.com")
	s := startSystem(t, withOIDC(testConfig(t), provider), wireOptions{})
	serve(s.url + "/")
	fs := runFirstSession(t, s)
	// The console may post the code to the provider's token endpoint, and nowhere else.
	csp := s.do(t, http.MethodGet, "/", "", nil).want(t, http.StatusOK).header.Get("Content-Security-Policy")
	if want := "connect-src 'self' " + provider.issuer + ";"; !strings.Contains(csp, want) {
		t.Errorf("CSP %q lacks %q", csp, want)
	}

	b := openTab(t)
	b.expectRefusal("/favicon.ico", http.StatusNotFound) // the provider's login page has none
	b.run("open the console", chromedp.Navigate(s.url+"/"), chromedp.WaitVisible(chromedp.ID("oidc-signin")))
	if got, want := b.text("#oidc-signin"), "Sign in with "+strings.TrimPrefix(provider.issuer, "http://"); got != want {
		t.Errorf("sign-in button %q, want %q", got, want)
	}
	b.run("go to the provider's login", chromedp.Click(chromedp.ID("oidc-signin")), chromedp.WaitVisible(chromedp.ID("username")))
	b.run("log in there", chromedp.SetValue(chromedp.ID("username"), provider.username),
		chromedp.SetValue(chromedp.ID("password"), provider.password), chromedp.Click(chromedp.CSS(`button[type="submit"]`)))
	b.run("back on the dashboard", ready("dashboard"))
	if who := b.text("#who-sub"); who != fs.admin {
		t.Errorf("signed in as %q, want %q", who, fs.admin)
	}
	dashboardShowsTheFirstSession(t, b, fs)
	if addr := evaluate[string](b, `location.search`); addr != "" {
		t.Errorf("the address still holds %q after the sign-in", addr)
	}
	idToken := evaluate[string](b, `sessionStorage.getItem("benefits.token")`)
	b.screenshots("dashboard-oidc")
	b.requireClean()

	// The provider's token and the ledger's own both open the dashboard's data.
	for name, tok := range map[string]string{"the provider's ID token": idToken, "an HS256 token": fs.adminTok} {
		if r := s.get(t, "/v1/partners/"+fs.mpn+"/benefits", tok); r.status != http.StatusOK {
			t.Errorf("%s: %d %s", name, r.status, r.body)
		}
	}
	// Another partner's data is refused to the provider's user as to anyone (R4).
	other := s.ready(t, "7654321", silverCloud)
	s.get(t, "/v1/partners/"+other.mpn+"/benefits", idToken).want(t, http.StatusForbidden)
}

// TestOIDCTokensAreCheckedForAudienceAndLifetimeLikeTheLedgersOwn: an API whose
// audience is not the console's client refuses the provider's ID token; one whose
// --max-token-lifetime is shorter than the provider's token lifetime (an hour) refuses
// it naming the setting; neither stops accepting HS256 tokens.
func TestOIDCTokensAreCheckedForAudienceAndLifetimeLikeTheLedgersOwn(t *testing.T) {
	provider, serve := startOIDCProvider(t, "admin@contoso.com")
	s := startSystem(t, withOIDC(testConfig(t), provider), wireOptions{})
	serve(s.url + "/")
	runFirstSession(t, s)
	b := openTab(t)
	b.expectRefusal("/favicon.ico", http.StatusNotFound)
	b.run("open the console", chromedp.Navigate(s.url+"/"), chromedp.WaitVisible(chromedp.ID("oidc-signin")))
	b.run("sign in at the provider", chromedp.Click(chromedp.ID("oidc-signin")), chromedp.WaitVisible(chromedp.ID("username")),
		chromedp.SetValue(chromedp.ID("username"), provider.username), chromedp.SetValue(chromedp.ID("password"), provider.password),
		chromedp.Click(chromedp.CSS(`button[type="submit"]`)), ready("dashboard"))
	idToken := evaluate[string](b, `sessionStorage.getItem("benefits.token")`)

	otherAudience := withOIDC(testConfig(t), provider)
	otherAudience.OIDC.Audience = "another-api"
	shortLived := withOIDC(testConfig(t), provider)
	shortLived.MaxTokenLifetime = 30 * time.Minute
	for name, tc := range map[string]struct {
		cfg  Config
		want string
	}{
		"another audience":   {otherAudience, "audience"},
		"a shorter lifetime": {shortLived, "--max-token-lifetime"},
	} {
		t.Run(name, func(t *testing.T) {
			api := startSystem(t, tc.cfg, wireOptions{})
			r := api.do(t, http.MethodGet, "/v1/ops/projections", idToken, nil)
			if r.status != http.StatusUnauthorized || !strings.Contains(string(r.body), tc.want) {
				t.Errorf("the provider's token: %d %s, want 401 naming %s", r.status, r.body, tc.want)
			}
			own, err := handlers.IssueToken(e2eSecret, "ops-1", []handlers.SystemRole{handlers.RoleOps}, 10*time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			api.do(t, http.MethodGet, "/v1/ops/projections", own, nil).want(t, http.StatusOK)
		})
	}
}
