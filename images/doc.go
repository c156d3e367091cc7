// Package images is slimage's image engine, a module of its own so that
// importing the targets links none of it. The front runs it as a child
// process, one step at a time: cmd/slimage-engine runs image, verify and
// verify-image and merge, cmd/slimage-vulncheck runs vulncheck,
// cmd/slimage-deploy reads the deployment's Kubernetes manifests,
// cmd/slimage-sign signs what was pushed and checks signatures (and
// cmd/slimage-sign-kms, the same with the clouds' KMS providers), each
// built the first time a step needs it (internal/step is what they share). Its packages,
// in the order a run uses them:
//
//   - spec: what the Dockerfiles say, as plain values, and their rendering;
//   - stage: the build context on disk (binary, CA bundle, zone, users);
//   - daemon: the container engine and a client for it;
//   - build: one Builder per way to build (Docker, OCI, multistage);
//   - deploy (and deploy/kube, slimage-deploy's alone): how the manifests
//     run a service, read with the Kubernetes API types;
//   - verify: runs the image and proves what production relies on;
//   - sign (slimage-sign's alone): cosign signatures and attestations of
//     what was pushed, with a key or keyless, and their check;
//   - probe: the in-container probe verify runs, and its report.
//
// This package holds only the engine's end-to-end tests.
package images
