"""Train an ElasticNet on scikit-learn's wine data and log what MLflow Projects users log: params, metrics, a model."""

from __future__ import annotations

import argparse

import mlflow
import mlflow.sklearn
from sklearn.datasets import load_wine
from sklearn.linear_model import ElasticNet
from sklearn.metrics import mean_squared_error, r2_score
from sklearn.model_selection import train_test_split


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--alpha", type=float, required=True)
    parser.add_argument("--l1-ratio", type=float, required=True)
    parser.add_argument("--max-iter", type=int, required=True)
    args = parser.parse_args()
    features, target = load_wine(return_X_y=True)
    train_x, test_x, train_y, test_y = train_test_split(features, target, random_state=18)
    with mlflow.start_run():  # the run `mlflow run` created (MLFLOW_RUN_ID)
        model = ElasticNet(alpha=args.alpha, l1_ratio=args.l1_ratio, max_iter=args.max_iter, random_state=18)
        model.fit(train_x, train_y)
        predicted = model.predict(test_x)
        mlflow.log_metric("rmse", float(mean_squared_error(test_y, predicted) ** 0.5))
        mlflow.log_metric("r2", float(r2_score(test_y, predicted)))
        mlflow.set_tag("trained_on", "wine")
        mlflow.sklearn.log_model(model, name="model")


if __name__ == "__main__":
    main()
