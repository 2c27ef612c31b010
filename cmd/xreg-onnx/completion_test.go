package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestCompletion: the bash script registers the function for xreg-onnx (checked by bash itself
// when it is there), and the binary answers completion requests with commands and flags, also
// when the request comes after a model argument.
func TestCompletion(t *testing.T) {
	out, err := runExportCLI("completion", "bash")
	if err != nil || !strings.Contains(out, "complete -o bashdefault -o default -F _xreg_onnx_complete xreg-onnx") {
		t.Fatalf("completion bash: %v\n%s", err, out)
	}
	if bash, err := exec.LookPath("bash"); err == nil {
		cmd := exec.Command(bash, "-c", out+"\ncomplete -p xreg-onnx")
		if got, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(got), "_xreg_onnx_complete") {
			t.Errorf("bash does not accept the script: %v\n%s", err, got)
		}
	}
	for _, test := range []struct {
		args []string
		want []string
	}{
		{[]string{"--generate-bash-completion"}, []string{"finetune", "setup", "completion", "version", "report"}},
		{[]string{"finetune", "--te", "--generate-bash-completion"}, []string{"--test-data", "--test-limit"}},
		{[]string{"finetune", "model.onnx", "--d", "--generate-bash-completion"}, []string{"--data"}},
	} {
		// As the shell runs it: the binary (this test binary acting as main), output on stdout.
		b, err := command(test.args...).Output()
		if err != nil {
			t.Fatalf("%v: %v", test.args, err)
		}
		got := string(b)
		for _, w := range test.want {
			if !strings.Contains(got, w+"\n") {
				t.Errorf("%v: no %q in\n%s", test.args, w, got)
			}
		}
	}
	if _, err := runExportCLI("completion", "tcsh"); err == nil || !strings.Contains(err.Error(), "bash or fish") {
		t.Errorf("completion tcsh: err = %v", err)
	}
}
