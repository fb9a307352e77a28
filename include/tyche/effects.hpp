// Layer 3 of tyche: effect handlers. Models call the primitives (sample,
// param, deterministic, factor, plate); handlers intercept them.
//
//   #include <tyche/effects.hpp>
//   auto model = [] { return tyche::sample("x", tyche::dist::Normal(0.0, 1.0)); };
//   tyche::Trace tr = tyche::trace(tyche::seed(model, 0)).get_trace();
//   std::cout << tyche::format_trace(tr);
#pragma once

#include "tyche/effects/handlers/block.hpp"
#include "tyche/effects/handlers/condition.hpp"
#include "tyche/effects/handlers/do.hpp"
#include "tyche/effects/handlers/enum.hpp"
#include "tyche/effects/handlers/infer_config.hpp"
#include "tyche/effects/handlers/lift.hpp"
#include "tyche/effects/handlers/mask.hpp"
#include "tyche/effects/handlers/replay.hpp"
#include "tyche/effects/handlers/reparam.hpp"
#include "tyche/effects/handlers/scale.hpp"
#include "tyche/effects/handlers/scope.hpp"
#include "tyche/effects/handlers/seed.hpp"
#include "tyche/effects/handlers/substitute.hpp"
#include "tyche/effects/handlers/trace.hpp"
#include "tyche/effects/handlers/uncondition.hpp"
#include "tyche/effects/log_density.hpp"
#include "tyche/effects/message.hpp"
#include "tyche/effects/plate.hpp"
#include "tyche/effects/primitives.hpp"
#include "tyche/effects/runtime.hpp"
#include "tyche/effects/scan.hpp"
#include "tyche/effects/trace_data.hpp"
