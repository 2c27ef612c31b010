// Package linear is norm-based cross-regularization of linear models (Brito, ICML 2025, §3.2–3.3,
// §5, App. B): the regularization parameter is a norm of the weights, learned on the
// regularization set, while the training set moves the weights only where that norm is constant.
//
// # Methods
//
//   - L2 (CrossL2): w = ρ·u/‖u‖. The training loss moves u by its gradient projected on the
//     sphere (so ‖w‖ = ρ is unchanged); the regularization-set loss moves ρ. At a fixed ρ the
//     training steps converge to the ridge solution whose norm is ρ (RidgeAtNorm).
//   - L1 (CrossL1): each gradient is split into its component along the complexity direction
//     d = sign(w)/‖sign(w)‖ and the orthogonal rest (SplitL1). Training steps use the rest,
//     regularization steps the component. A weight that would cross zero stops at exactly zero; a
//     zero weight re-enters only when its training gradient beats the common slope of the active
//     weights (the lasso's optimality condition), so exact zeros appear as on the lasso path.
//     L1Project replaces the training step by a gradient step followed by the exact Euclidean
//     projection onto the L1 ball of the current norm, which removes the drift of ‖w‖₁ that the
//     paper's rule shows when weights leave and re-enter (L1Fit.Drift measures it).
//   - Smoothing splines (CrossSpline): cubic B-spline regression whose complexity is the
//     integrated squared second derivative βᵀΩβ (SplinePenalty). In the eigenbasis of Ω the
//     problem is L2 cross-regularization of the penalised coordinates with the null space of Ω
//     (constant and linear functions) left free: training moves on a level set of constant
//     smoothness, the regularization set moves the smoothness.
//
// # Baselines
//
// RidgeGrid fits ridge regression in closed form (one SVD, gonum/mat) over a grid of α and picks
// the α with the lowest regularization-set MSE; LassoPath runs coordinate descent with warm
// starts over a decreasing α grid; SplineGrid does the same for the smoothing parameter. Each
// reports its compute (wall time and fits) beside the cross-regularized fit's.
//
// # Data
//
// Table reads numeric CSV files with a header; Standardizer centres (and optionally scales)
// features and target with training statistics only. Every fit works on centred data; the
// intercept is recovered from the means. Synthetic data of the benchmark protocol
// (RidgeSynthetic, SplineSynthetic) and the diabetes splits (SplitDiabetes) are generated with
// Go's math/rand/v2 PCG generator seeded by the protocol seed.
package linear
