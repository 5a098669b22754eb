"""Ask: hybrid retrieval and answers with verified citations; the /ask route."""
