package main

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"ledger/handlers"
)

// tokenRequest is what `benefits token` is asked for.
type tokenRequest struct {
	Sub   string
	Roles []handlers.SystemRole
	TTL   time.Duration
}

func tokenSettings(c *Config, t *tokenRequest) []setting {
	return []setting{
		{name: "sub", noEnv: true, usage: "user account id the token is for (required)",
			apply: func(v string) error {
				if strings.TrimSpace(v) == "" {
					return errors.New("required: the user account id")
				}
				t.Sub = v
				return nil
			}},
		{name: "roles", noEnv: true, usage: "comma-separated system roles: platform, auditor, ops (empty: a partner user)",
			apply: func(v string) error {
				t.Roles = nil
				for name := range strings.SplitSeq(v, ",") {
					if name = strings.TrimSpace(name); name == "" {
						continue
					}
					r, err := handlers.ParseSystemRole(name)
					if err != nil {
						return err
					}
					t.Roles = append(t.Roles, r)
				}
				return nil
			}},
		maxTokenLifetimeSetting(c), // before ttl, which it bounds
		{name: "ttl", noEnv: true, def: "1h", usage: "how long the token is valid, at most --max-token-lifetime",
			apply: func(v string) (err error) {
				if t.TTL, err = parseDuration(v, 366*24*time.Hour); err != nil {
					return err
				}
				if c.MaxTokenLifetime > 0 && t.TTL > c.MaxTokenLifetime {
					return fmt.Errorf("longer than --max-token-lifetime %s: the server would refuse the token", c.MaxTokenLifetime)
				}
				return nil
			}},
		dataDirSetting(c),
		jwtSecretSetting(c),
		jwtSecretFileSetting(c),
	}
}

// runToken prints a bearer token signed with the secret serve uses.
func runToken(args []string, env func(string) (string, bool), stdout io.Writer) error {
	var cfg Config
	var req tokenRequest
	if err := parseSettings("token", "token --sub USER [--roles platform,auditor,ops] [--ttl 1h] [--data-dir DIR]",
		tokenSettings(&cfg, &req), args, env, stdout); err != nil {
		return err
	}
	secret, err := jwtSecret(cfg)
	if err != nil {
		return err
	}
	tok, err := handlers.IssueToken(secret, req.Sub, req.Roles, req.TTL)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, tok)
	return err
}
