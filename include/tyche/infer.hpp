// Layer 4 of tyche: inference. So far the model's potential energy on the
// unconstrained space, with the layout of its latent sites.
//
//   #include <tyche/infer.hpp>
//   auto potential = tyche::potential_energy(model, y);
//   auto compiled = tyche::compile_gradient(potential, potential.pack({{"mu", 1.0}, {"tau", 2.0}}));
#pragma once

#include "tyche/infer/potential.hpp"
