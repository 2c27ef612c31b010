package main

import (
	"fmt"
	"testing"
)

func TestFormatSigma(t *testing.T) {
	many := map[string]float64{}
	for i := range 52 {
		many[fmt.Sprintf("xreg.noise.layer%02d.BatchNormalization.log_sigma", i)] = 0.1 + 0.001*float64(i)
	}
	for _, tt := range []struct {
		name       string
		sigma, mag map[string]float64
		want       string
	}{
		{"none", nil, nil, "-"},
		{"per point", map[string]float64{"xreg.noise.bn1.BatchNormalization.log_sigma": 0.1484, "xreg.noise.bn2.BatchNormalization.log_sigma": 0.1181}, nil,
			"bn1 0.148 bn2 0.118"},
		{"many points: mean and range", many, nil, "mean 0.126 in [0.100, 0.151] over 52 points"},
		{"many points and a magnitude", many, map[string]float64{"shift": 0.05},
			"mean 0.126 in [0.100, 0.151] over 52 points shift 0.050"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := formatSigma(tt.sigma, tt.mag); got != tt.want {
				t.Errorf("formatSigma = %q, want %q", got, tt.want)
			}
		})
	}
}
