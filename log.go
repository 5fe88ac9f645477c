package identityweb

import (
	"log/slog"
)

const (
	levelWarn  = slog.LevelWarn
	levelDebug = slog.LevelDebug
)

func strAttr(k, v string) slog.Attr     { return slog.String(k, v) }
func intAttr(k string, v int) slog.Attr { return slog.Int(k, v) }

// errAttr logs an error's message. The library's errors never carry tokens,
// assertions or secrets.
func errAttr(err error) slog.Attr { return slog.String("error", err.Error()) }
