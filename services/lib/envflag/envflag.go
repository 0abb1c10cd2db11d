// Package envflag defines command-line flags whose defaults come from
// environment variables, so every setting of a service can be given either
// way (12-factor): a flag wins over its variable, which wins over the default.
package envflag

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"time"
)

// Set wraps a flag.FlagSet and remembers parse errors of environment values.
type Set struct {
	*flag.FlagSet
	errs []error
}

// New returns a Set named name that reports errors instead of exiting.
func New(name string) *Set { return &Set{FlagSet: flag.NewFlagSet(name, flag.ContinueOnError)} }

func (s *Set) env(env string) (string, bool) {
	v, ok := os.LookupEnv(env)
	return v, ok && v != ""
}

// String defines a string flag with env fallback.
func (s *Set) String(p *string, name, env, def, usage string) {
	if v, ok := s.env(env); ok {
		def = v
	}
	s.StringVar(p, name, def, usage+" (env "+env+")")
}

// Int defines an int flag with env fallback.
func (s *Set) Int(p *int, name, env string, def int, usage string) {
	if v, ok := s.env(env); ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			s.errs = append(s.errs, fmt.Errorf("%s=%q: not an integer", env, v))
		} else {
			def = n
		}
	}
	s.IntVar(p, name, def, usage+" (env "+env+")")
}

// Bool defines a bool flag with env fallback.
func (s *Set) Bool(p *bool, name, env string, def bool, usage string) {
	if v, ok := s.env(env); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			s.errs = append(s.errs, fmt.Errorf("%s=%q: not a boolean", env, v))
		} else {
			def = b
		}
	}
	s.BoolVar(p, name, def, usage+" (env "+env+")")
}

// Duration defines a duration flag with env fallback.
func (s *Set) Duration(p *time.Duration, name, env string, def time.Duration, usage string) {
	if v, ok := s.env(env); ok {
		d, err := time.ParseDuration(v)
		if err != nil {
			s.errs = append(s.errs, fmt.Errorf("%s=%q: not a duration", env, v))
		} else {
			def = d
		}
	}
	s.DurationVar(p, name, def, usage+" (env "+env+")")
}

// Parse parses args and returns the first environment or flag error.
func (s *Set) Parse(args []string) error {
	if len(s.errs) > 0 {
		return s.errs[0]
	}
	return s.FlagSet.Parse(args)
}
