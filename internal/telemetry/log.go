package telemetry

import "log/slog"

// Log levels the library uses: warnings and errors in production, debug for
// diagnosis; never verbose by default.
const (
	LevelWarn  = slog.LevelWarn
	LevelDebug = slog.LevelDebug
	LevelError = slog.LevelError
)

// Str is a string attribute.
func Str(k, v string) slog.Attr { return slog.String(k, v) }

// Int is an int attribute.
func Int(k string, v int) slog.Attr { return slog.Int(k, v) }

// Err logs an error's message. The library's errors never carry tokens,
// assertions or secrets.
func Err(err error) slog.Attr { return slog.String("error", err.Error()) }
