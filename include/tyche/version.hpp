// tyche/version.hpp: library version (keep in sync with project() in CMakeLists.txt).
#pragma once

namespace tyche {
inline constexpr int version_major = 0, version_minor = 1, version_patch = 0;
}  // namespace tyche
