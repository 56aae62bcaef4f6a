"""Parses an event (JSON on stdin) with aws-lambda-powertools' strict pydantic model named by
argv[1] (LambdaFunctionUrlModel, APIGatewayProxyEventV2Model, APIGatewayProxyEventModel) and
prints `valid`, or the validation error and exits 1. Runs on the host, not in a sandbox."""

import json
import sys

from aws_lambda_powertools.utilities.parser import models, parse

try:
    parse(event=json.load(sys.stdin), model=getattr(models, sys.argv[1]))
except Exception as error:  # noqa: BLE001 - the message is the test's evidence
    print(f"invalid: {error}")
    sys.exit(1)
print("valid")
