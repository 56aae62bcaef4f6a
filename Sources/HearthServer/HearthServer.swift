// HearthServer: the Lambda API front door.
