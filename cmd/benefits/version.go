package main

import (
	"fmt"
	"runtime/debug"
)

// version is stamped at build time: go build -ldflags "-X main.version=v1.4.0" (the
// Makefile stamps `git describe`). Empty in a plain `go build`.
var version string

// buildVersion is the stamped version or, without one, what the Go toolchain recorded
// of the checkout it built: the VCS revision (12 hex digits), "+dirty" for uncommitted
// changes, or the module version of a `go install ...@v1.2.3`; "dev" when neither is
// known (go run, go test).
func buildVersion() string {
	if version != "" {
		return version
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "dev"
	}
	revision, dirty := "", false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			revision = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	switch {
	case revision != "":
		v := revision[:min(12, len(revision))]
		if dirty {
			v += "+dirty"
		}
		return v
	case info.Main.Version != "" && info.Main.Version != "(devel)":
		return info.Main.Version
	}
	return "dev"
}

func versionLine() string {
	return fmt.Sprintf("benefits %s", buildVersion())
}
