package main

import (
	"fmt"

	"github.com/urfave/cli/v2"
)

// bashCompletion asks the binary itself for candidates (urfave/cli's --generate-bash-completion).
const bashCompletion = `# xreg-onnx bash completion: source <(xreg-onnx completion bash)
_xreg_onnx_complete() {
  local cur opts
  COMPREPLY=()
  cur="${COMP_WORDS[COMP_CWORD]}"
  if [[ "$cur" == "-"* ]]; then
    opts=$("${COMP_WORDS[@]:0:$COMP_CWORD}" "$cur" --generate-bash-completion 2>/dev/null)
  else
    opts=$("${COMP_WORDS[@]:0:$COMP_CWORD}" --generate-bash-completion 2>/dev/null)
  fi
  COMPREPLY=($(compgen -W "$opts" -- "$cur"))
  return 0
}
complete -o bashdefault -o default -F _xreg_onnx_complete xreg-onnx
`

func init() {
	commands = append(commands, &cli.Command{
		Name:      "completion",
		Usage:     "print a shell completion script (bash or fish) for commands and flags",
		ArgsUsage: "bash|fish",
		Description: `bash:  source <(xreg-onnx completion bash)       (or save it under ~/.local/share/bash-completion/completions/xreg-onnx)
fish:  xreg-onnx completion fish > ~/.config/fish/completions/xreg-onnx.fish
File names complete as usual after the commands and flags.`,
		Action: func(c *cli.Context) error {
			switch c.Args().First() {
			case "bash":
				_, err := fmt.Fprint(c.App.Writer, bashCompletion)
				return err
			case "fish":
				s, err := c.App.ToFishCompletion()
				if err != nil {
					return fmt.Errorf("completion: %w", err)
				}
				_, err = fmt.Fprint(c.App.Writer, s)
				return err
			}
			return fmt.Errorf("completion: expected the shell, bash or fish (xreg-onnx completion bash)")
		},
	})
}
