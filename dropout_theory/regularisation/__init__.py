"""Dropout as a regulariser: closed forms and exact computations.

* :mod:`~dropout_theory.regularisation.linear_unit` -- Baldi & Sadowski's linear unit;
* :mod:`~dropout_theory.regularisation.glm` -- Wager et al.'s GLM penalty, exact and quadratic;
* :mod:`~dropout_theory.regularisation.least_squares` -- Srivastava's linear regression, Bishop's
  input noise, multiplicative Gaussian noise;
* :mod:`~dropout_theory.regularisation.training` -- gradient descent with sampled masks.

Code arguments named ``p`` are drop probabilities; the linear-unit functions take ``keep``
(Baldi & Sadowski's :math:`p_i`) explicitly.
"""

from dropout_theory.regularisation.glm import (
    GAUSSIAN,
    LOGISTIC,
    GLMFamily,
    glm_dropout_penalty,
    glm_expected_loss,
    glm_loss,
    glm_penalty_small_drop_slope,
    glm_quadratic_penalty,
)
from dropout_theory.regularisation.least_squares import (
    column_norms_squared,
    dropout_least_squares_loss,
    dropout_least_squares_solution,
    enumerate_dropout_least_squares,
    equivalent_ridge_lambda,
    gaussian_input_noise_loss,
    multiplicative_gaussian_noise_loss,
    ridge_solution,
)
from dropout_theory.regularisation.linear_unit import (
    dropout_penalty,
    ensemble_error,
    enumerate_dropout_error,
    expected_dropout_error,
    expected_dropout_gradient,
    inverted_dropout_penalty,
)
from dropout_theory.regularisation.training import (
    DropoutGDRun,
    dropout_gradient_descent,
    expected_loss_hessian,
    gradient_noise_covariance,
    predicted_average_covariance,
)

__all__ = [
    "GAUSSIAN",
    "LOGISTIC",
    "DropoutGDRun",
    "GLMFamily",
    "column_norms_squared",
    "dropout_gradient_descent",
    "dropout_least_squares_loss",
    "dropout_least_squares_solution",
    "dropout_penalty",
    "ensemble_error",
    "enumerate_dropout_error",
    "enumerate_dropout_least_squares",
    "equivalent_ridge_lambda",
    "expected_dropout_error",
    "expected_dropout_gradient",
    "expected_loss_hessian",
    "gaussian_input_noise_loss",
    "glm_dropout_penalty",
    "glm_expected_loss",
    "glm_loss",
    "glm_penalty_small_drop_slope",
    "glm_quadratic_penalty",
    "gradient_noise_covariance",
    "inverted_dropout_penalty",
    "multiplicative_gaussian_noise_loss",
    "predicted_average_covariance",
    "ridge_solution",
]
