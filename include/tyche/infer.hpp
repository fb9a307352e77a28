// Layer 4 of tyche: inference. The model's potential energy on the
// unconstrained space, NUTS and HMC with Stan's warm-up, the MCMC driver,
// NumPyro's diagnostics and summary table, Predictive and log_likelihood,
// WAIC and PSIS-LOO, CmdStan-layout CSV output, the model's graph as Graphviz
// DOT, and SVI with its ELBOs, optimisers and autoguides.
//
//   #include <tyche/infer.hpp>
//   tyche::MCMC mcmc(tyche::NUTS(model), {.num_warmup = 1000, .num_samples = 1000, .num_chains = 4});
//   mcmc.run(/*seed=*/0, y);
//   mcmc.print_summary();
#pragma once

#include "tyche/infer/adaptation.hpp"
#include "tyche/infer/autoguide.hpp"
#include "tyche/infer/cmdstan_csv.hpp"
#include "tyche/infer/diagnostics.hpp"
#include "tyche/infer/elbo.hpp"
#include "tyche/infer/hamiltonian.hpp"
#include "tyche/infer/infer_discrete.hpp"
#include "tyche/infer/initialization.hpp"
#include "tyche/infer/inspect.hpp"
#include "tyche/infer/mcmc.hpp"
#include "tyche/infer/model_comparison.hpp"
#include "tyche/infer/nuts.hpp"
#include "tyche/infer/optim.hpp"
#include "tyche/infer/potential.hpp"
#include "tyche/infer/predictive.hpp"
#include "tyche/infer/summary.hpp"
#include "tyche/infer/svi.hpp"
#include "tyche/infer/trace_enum_elbo.hpp"
