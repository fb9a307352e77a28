// The numeric core at work: a logistic regression's log posterior written with
// tyche arrays, its gradient by reverse-mode autodiff checked against finite
// differences, then the posterior mode found by gradient ascent on the compiled
// (recorded once, replayed) gradient.
//
//   cmake --build build --target core_demo && ./build/examples/core_demo
#include <tyche/tyche.hpp>

#include <cstdio>
#include <random>

int main() {
  // Synthetic data: 2000 rows, 3 features, known coefficients.
  const Eigen::Index rows = 2000, dims = 3;
  const Eigen::Vector3d beta_true(1.0, -2.0, 0.5);
  const double alpha_true = -0.3;
  std::mt19937_64 rng(42);
  std::normal_distribution<double> normal;
  std::uniform_real_distribution<double> uniform;
  tyche::RowMatrixXd x_data(rows, dims);
  Eigen::VectorXd y_data(rows);
  for (Eigen::Index i = 0; i < rows; ++i) {
    for (Eigen::Index j = 0; j < dims; ++j) x_data(i, j) = normal(rng);
    const double p = 1.0 / (1.0 + std::exp(-(alpha_true + x_data.row(i).dot(beta_true))));
    y_data[i] = uniform(rng) < p ? 1.0 : 0.0;
  }

  // The model's log density over q = (alpha, beta): views, so nothing is copied.
  const tyche::Tensor x = tyche::Tensor::view(x_data), y = tyche::Tensor::view(y_data);
  auto log_posterior = [&](const tyche::Tensor& q) {
    const tyche::Tensor alpha = q[0], beta = q.slice(1, dims + 1);
    const tyche::Tensor logits = alpha + tyche::matmul(x, beta);
    return tyche::add_n({tyche::normal_log_density_sum(alpha, 0.0, 2.5),
                         tyche::normal_log_density_sum(beta, 0.0, 1.0),
                         tyche::bernoulli_logit_log_mass_sum(y, logits)});
  };

  Eigen::VectorXd q = Eigen::VectorXd::Zero(dims + 1), g(dims + 1);
  const double logp = tyche::value_and_grad(log_posterior, q, g);
  std::printf("log posterior at 0: %.6f\n", logp);
  std::printf("%-8s %14s %14s\n", "", "autodiff", "finite diff");
  for (Eigen::Index i = 0; i < q.size(); ++i) {
    Eigen::VectorXd up = q, down = q;
    up[i] += 1e-6;
    down[i] -= 1e-6;
    const double fd = (tyche::value_and_grad(log_posterior, up).value -
                       tyche::value_and_grad(log_posterior, down).value) / 2e-6;
    std::printf("dq[%ld]    %14.6f %14.6f\n", long(i), g[i], fd);
  }

  // Gradient ascent with a step fitted to the data size, on the compiled gradient.
  auto compiled = tyche::compile_gradient(log_posterior, q);
  double value = 0.0;
  for (int step = 0; step < 500; ++step) {
    value = compiled(q, g);
    q += (2.0 / double(rows)) * g;
  }
  std::printf("\nposterior mode after 500 steps (%zu recorded operations), log density %.4f\n",
              compiled.size(), value);
  std::printf("%-8s %10s %10s\n", "", "mode", "true");
  std::printf("%-8s %10.4f %10.4f\n", "alpha", q[0], alpha_true);
  for (Eigen::Index j = 0; j < dims; ++j)
    std::printf("beta[%ld]  %10.4f %10.4f\n", long(j), q[j + 1], beta_true[j]);
  return 0;
}
