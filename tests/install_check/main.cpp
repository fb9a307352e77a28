#include <tyche/tyche.hpp>

#include <iostream>

int main() {
  std::cout << "tyche " << tyche::version_major << '.' << tyche::version_minor << '.'
            << tyche::version_patch << " found\n";
  return 0;
}
