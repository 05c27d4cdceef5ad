# Container targets, included by the top Makefile.
#
#   make image            build the image $(IMAGE) (needs a running docker daemon; creates
#                         the local base image debian:bookworm-slim when it is missing)
#   make image-python     $(IMAGE), then $(PYTHON_IMAGE) from it: python3, Flask and
#                         gunicorn added, the seed's Flask app as [app] (docker/python/)
#   make image-php        $(IMAGE), then $(PHP_IMAGE) from it: php-cgi added, the PHP
#                         example as a FastCGI [app] (docker/php/)
#   make test-container   start dockerd if none runs, build the image from the sources,
#                         run t/container/test-image.sh against it, stop that dockerd
#   make test-fc-local    scripts/fc-local against the runtime on a free port (no docker)
#   make test-deploy      docker/deploy/*.yaml parsed and checked (no docker)

IMAGE ?= fcworker:latest
PYTHON_IMAGE ?= fcworker-python:latest
PHP_IMAGE ?= fcworker-php:latest

.PHONY: image image-python image-php test-container test-fc-local test-deploy

image:
	scripts/make-base-image
	docker build --network host -f docker/Dockerfile -t $(IMAGE) .
	@docker image inspect -f '{{.Size}}' $(IMAGE) | awk '{printf "$(IMAGE): %.1f MB\n", $$1 / 1e6}'

# Derived from the $(IMAGE) just built, so the two never disagree.
image-python: image
	docker build --network host --build-arg FCWORKER_IMAGE=$(IMAGE) \
		-f docker/python/Dockerfile -t $(PYTHON_IMAGE) .
	@docker image inspect -f '{{.Size}}' $(PYTHON_IMAGE) | awk '{printf "$(PYTHON_IMAGE): %.1f MB\n", $$1 / 1e6}'

image-php: image
	docker build --network host --build-arg FCWORKER_IMAGE=$(IMAGE) \
		-f docker/php/Dockerfile -t $(PHP_IMAGE) .
	@docker image inspect -f '{{.Size}}' $(PHP_IMAGE) | awk '{printf "$(PHP_IMAGE): %.1f MB\n", $$1 / 1e6}'

test-container:
	@IMAGE=$(IMAGE) scripts/test-container

test-fc-local: $(BIN)
	@FCWORKER_BIN=$(abspath $(BIN)) t/container/test-fc-local.sh

test-deploy: $(BIN)
	@FCWORKER_BIN=$(abspath $(BIN)) t/container/test-deploy.sh
