package optim

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Spec chooses an optimiser by value: a registered name and its hyperparameters. A zero
// hyperparameter takes the registered default (Default), so Spec{Name: "adam", LR: 0.05} is Adam
// with β = (0.9, 0.999).
type Spec struct {
	Name                                    string
	LR, Beta1, Beta2, WeightDecay, Momentum float64
}

// Adam and SGD name the registered optimisers.
const (
	AdamName = "adam"
	SGDName  = "sgd"
)

type entry struct {
	defaults Spec
	build    func(Spec) Optimizer
}

// registry holds every optimiser by name, with its defaults beside it.
var registry = map[string]entry{
	AdamName: {Spec{Name: AdamName, LR: 1e-3, Beta1: 0.9, Beta2: 0.999}, func(s Spec) Optimizer {
		a := NewAdam(s.LR, s.WeightDecay)
		a.Beta1, a.Beta2 = s.Beta1, s.Beta2
		return a
	}},
	SGDName: {Spec{Name: SGDName, LR: 1e-2}, func(s Spec) Optimizer { return NewSGD(s.LR, s.Momentum, s.WeightDecay) }},
}

// ErrUnknown is returned (wrapped) by New for a name that is not registered.
var ErrUnknown = errors.New("optim: unknown optimizer")

// Names returns the registered optimiser names, sorted.
func Names() []string {
	out := make([]string, 0, len(registry))
	for name := range registry {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// Default returns the registered defaults of an optimiser.
func Default(name string) (Spec, bool) {
	e, ok := registry[name]
	return e.defaults, ok
}

// New builds the optimiser s describes, its zero hyperparameters filled in from Default.
func New(s Spec) (Optimizer, error) {
	e, ok := registry[s.Name]
	if !ok {
		return nil, fmt.Errorf("%w %q (want %s)", ErrUnknown, s.Name, strings.Join(Names(), " or "))
	}
	d := e.defaults
	for _, f := range []struct{ p, def *float64 }{{&s.LR, &d.LR}, {&s.Beta1, &d.Beta1}, {&s.Beta2, &d.Beta2},
		{&s.WeightDecay, &d.WeightDecay}, {&s.Momentum, &d.Momentum}} {
		if *f.p == 0 {
			*f.p = *f.def
		}
	}
	return e.build(s), nil
}
