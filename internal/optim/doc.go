// Package optim implements the optimisers the trainer uses, over plain float32 slices, with state
// that can be saved in a checkpoint and restored exactly.
//
// Adam follows Kingma & Ba with bias correction; weight decay is decoupled (AdamW, Loshchilov &
// Hutter): w ← w − lr·wd·w before the Adam step, matching torch.optim.AdamW. SGD has optional
// momentum (torch.optim.SGD semantics: v ← μ·v + g; w ← w − lr·v) and decoupled weight decay.
// ClipGlobalNorm scales gradients so that their joint L2 norm is at most a bound, like
// torch.nn.utils.clip_grad_norm_.
package optim
