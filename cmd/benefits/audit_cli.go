package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"

	"ledger/infra/audit"
)

// storeSettings are the settings every audit, history and projections subcommand
// shares with serve, under the same names and variables.
func storeSettings(c *Config) []setting {
	return []setting{
		dataDirSetting(c),
		eventStoreSetting(c),
		readDBSetting(c),
		logFormatSetting(c),
		logLevelSetting(c),
	}
}

// opsProcess opens the stores exactly as serve does (wire_parts.go): the event store and, when readDB, the read database, as serve does.
func opsProcess(ctx context.Context, cfg Config, logger *slog.Logger, readDB bool) (*process, error) {
	if err := requireExistingStores(ctx, cfg, false); err != nil { // a rebuild may create the read models
		return nil, err
	}
	p := &process{}
	if err := p.openEventStore(ctx, cfg, logger); err != nil {
		return nil, err
	}
	p.sqlStore = p.store
	if readDB {
		if err := p.openReadDB(ctx, cfg); err != nil {
			return nil, errors.Join(err, p.close())
		}
	}
	// History, exports, as-of and rebuilds read personal data as serve does: opened, or
	// shown erased.
	if err := p.addPersonalData(ctx, 0); err != nil {
		return nil, errors.Join(err, p.close())
	}
	return p, nil
}

const auditUsage = `Usage: benefits audit verify|checkpoint|proof|key|keygen [flags]

  verify                       walk the hash chain of every stream (or --stream) and report
                               the first broken link; exit 1 when broken
  verify --checkpoint FILE     prove today's log extends a checkpoint saved earlier; exit 1
                               naming the first differing position when it does not
  checkpoint                   bring the Merkle tree up to the log and print a signed
                               checkpoint of it (save it for verify --checkpoint)
  proof inclusion --position P [--size N]   RFC 6962 inclusion proof of an event
  proof consistency --from A [--to B]       RFC 6962 consistency proof between sizes
  key                          print the checkpoints' verifier key (public)
  keygen [--origin NAME]       print a new signer key and its verifier key (rotation)

See benefits audit <subcommand> --help for the flags.
`

// runOpsCommand dispatches the auditors' and operators' subcommands.
func runOpsCommand(ctx context.Context, args []string, env func(string) (string, bool), stdout, stderr io.Writer) error {
	switch args[0] {
	case "audit":
		return runAudit(ctx, args[1:], env, stdout, stderr)
	case "history":
		return runHistory(ctx, args[1:], env, stdout, stderr)
	default:
		return runProjections(ctx, args[1:], env, stdout, stderr)
	}
}

// runAudit dispatches `benefits audit <subcommand>`.
func runAudit(ctx context.Context, args []string, env func(string) (string, bool), stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, auditUsage)
		return usageError{errors.New("want: audit verify|checkpoint|proof|key|keygen")}
	}
	switch args[0] {
	case "verify":
		return runAuditVerify(ctx, args[1:], env, stdout, stderr)
	case "checkpoint", "proof", "key":
		return runAuditTransparency(ctx, args, env, stdout, stderr)
	case "keygen":
		return runAuditKeygen(args[1:], env, stdout)
	}
	fmt.Fprint(stderr, auditUsage)
	return usageError{fmt.Errorf("unknown audit subcommand %q: want verify, checkpoint, proof, key or keygen", args[0])}
}

// runAuditVerify is `benefits audit verify`: the hash chain, or with --checkpoint the
// proof that today's log extends a saved checkpoint.
func runAuditVerify(ctx context.Context, args []string, env func(string) (string, bool), stdout, stderr io.Writer) error {
	var cfg Config
	var remote remoteAPI
	var stream, checkpointFile, verifierKey string
	asJSON, output := false, "text"
	settings := append(append(storeSettings(&cfg), remoteSettings(&remote)...),
		setting{name: "stream", noEnv: true, usage: "verify only this stream (e.g. partner-4711001); empty: every stream",
			apply: func(v string) error { stream = v; return nil }},
		setting{name: "checkpoint", noEnv: true, usage: "a signed checkpoint saved earlier (benefits audit checkpoint, GET /v1/audit/checkpoint's note): prove today's log extends it instead of walking the chain",
			apply: func(v string) error { checkpointFile = v; return nil }},
		setting{name: "verifier-key", noEnv: true, usage: "with --checkpoint: the verifier key the auditor trusts (name+hash+key); empty: the configured signer key's",
			apply: func(v string) error { verifierKey = v; return nil }},
		outputSetting(&output),
		setting{name: "json", def: "false", noEnv: true, isBool: true, usage: "the same as --output json",
			apply: func(v string) (err error) { asJSON, err = parseBool(v); return err }})
	settings = append(settings, checkpointKeySettings(&cfg)...)
	if err := parseSettings("audit verify", "audit verify [flags]", settings, args, env, stdout); err != nil {
		return err
	}
	if err := remote.check(); err != nil {
		return err
	}
	if checkpointFile != "" {
		if stream != "" {
			return usageError{errors.New("--checkpoint covers the whole log: leave out --stream")}
		}
		if remote.enabled() {
			return usageError{errors.New("--checkpoint reads the store itself, so that no server vouches for its own log: leave out --api-url")}
		}
		return verifyCheckpoint(ctx, cfg, checkpointFile, verifierKey, asJSON || output == "json", stdout, stderr)
	}
	v, err := verifyChain(ctx, cfg, remote, stream, stderr)
	if err != nil {
		return err
	}
	if asJSON || output == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(v); err != nil {
			return err
		}
	} else if v.Intact {
		fmt.Fprintf(stdout, "intact: %d events in %d streams checked\n", v.EventsChecked, v.Streams)
	} else {
		fmt.Fprintf(stdout, "BROKEN after %d intact events: %s\n", v.EventsChecked, v.Broken)
	}
	if !v.Intact {
		return errChainBroken
	}
	return nil
}

// verifyChain walks the chain in the stores cfg names, or asks the API at --api-url to.
func verifyChain(ctx context.Context, cfg Config, remote remoteAPI, stream string, stderr io.Writer) (audit.Verification, error) {
	var v audit.Verification
	if remote.enabled() {
		q := url.Values{}
		if stream != "" {
			q.Set("stream", stream)
		}
		_, err := remote.call(ctx, http.MethodGet, "/v1/audit/verify", q, &v)
		return v, err
	}
	p, err := opsProcess(ctx, cfg, newLogger(stderr, cfg.LogFormat, cfg.LogLevel), false)
	if err != nil {
		return v, err
	}
	defer p.close()
	return audit.Verify(ctx, p.store, stream)
}

// errChainBroken makes `audit verify` exit 1 on a broken chain, for scripts.
var errChainBroken = errors.New("the hash chain is broken (see above)")

// bareBools lets switches be given alone (--dry-run) or with their value next
// (--dry-run false) although settings are strings (see normalizeSwitches).
func bareBools(args []string, names ...string) []string { return normalizeSwitches(args, names) }

func parseBool(v string) (bool, error) {
	switch v {
	case "true", "1", "yes":
		return true, nil
	case "false", "0", "no", "":
		return false, nil
	}
	return false, errors.New("want true or false")
}
