# Kubernetes mode, deploy side: deploy/ (CRDs, RBAC, Deployment, DaemonSet)
# and the test kubelet, against a real kube-apiserver + etcd on loopback
# (tests/kube/cluster.sh; skipped, exit 77, when scripts/build-kube-apiserver.sh
# has not built the apiserver).  Label kube: `ctest -L kube`.
#  kube-gen-crds       deploy/crds and deploy/ferry.yaml equal scripts/gen-crds' output
#  kube-deploy         kubectl apply -f deploy/ (idempotent, RBAC), upstream examples
#                      as written, wrong types refused, kubectl get vm,vmi,dv columns
#  kube-install-refusal deploy/install.sh refuses a cluster with KubeVirt's or CDI's CRDs
#  kube-deploy-dv      the controller's pod + Jobs running build/bin/ferry-importer: a blank
#                      and an http DataVolume end Succeeded with the right bytes
#  kube-deploy-handler the DaemonSet's pod (build/bin/ferry-handler): --allow-emulation from
#                      the ConfigMap, KVM verdict on the Node, nothing refused by the RBAC
#  kube-deploy-vm      both, and a VM: VMI Running through a launcher pod, deleted with
#                      everything it owned (VMI, pod, libvirt domain)
#  kube-kubelet        tests/kube/kubelet.py runs a pod with a PVC end to end
#  kube-deploy-controller the Deployment's pods (build/bin/ferry-controller, in-cluster
#                      config, deploy/'s RBAC): Lease, DataVolume -> PVC + Job, hand-over
ferry_script_test(kube-gen-crds SCRIPT ${CMAKE_SOURCE_DIR}/tests/kube/gen-crds.sh
                  LABELS kube unit TIMEOUT 120)
ferry_script_test(kube-deploy SCRIPT ${CMAKE_SOURCE_DIR}/tests/kube/deploy.sh
                  LABELS kube integration TIMEOUT 600)
ferry_script_test(kube-install-refusal SCRIPT ${CMAKE_SOURCE_DIR}/tests/kube/install-refusal.sh
                  LABELS kube integration TIMEOUT 300)
ferry_script_test(kube-kubelet SCRIPT ${CMAKE_SOURCE_DIR}/tests/kube/kubelet.sh
                  LABELS kube integration TIMEOUT 600)
ferry_script_test(kube-deploy-controller SCRIPT ${CMAKE_SOURCE_DIR}/tests/kube/deploy-controller.sh
                  LABELS kube integration TIMEOUT 600)
ferry_script_test(kube-deploy-dv SCRIPT ${CMAKE_SOURCE_DIR}/tests/kube/deploy-dv.sh
                  LABELS kube integration TIMEOUT 600)
ferry_script_test(kube-deploy-handler SCRIPT ${CMAKE_SOURCE_DIR}/tests/kube/deploy-handler.sh
                  LABELS kube integration TIMEOUT 600)
ferry_script_test(kube-deploy-vm SCRIPT ${CMAKE_SOURCE_DIR}/tests/kube/deploy-vm.sh
                  LABELS kube integration TIMEOUT 900)
# Both use the machine's libvirtd (tests/lib/libvirtd.sh) and the host's
# /var/lib/ferry and /var/run/ferry (libvirtd reads the handler's files
# there): never at the same time, nor beside another libvirtd user.
set_tests_properties(kube-deploy-handler kube-deploy-vm PROPERTIES RESOURCE_LOCK "ferry-host-paths;libvirtd")
# Issue 16's end-to-end checks of the controller on the real apiserver:
#  kube-apiserver-restart the controller re-lists after an apiserver restart
#                      (etcd compacting) and reconciles what changed meanwhile
#  kube-leader-election controlplane-leader-election on the apiserver: SIGKILL
#                      of the leader, the other replica takes the Lease over
#  kube-1000-vms       1,000 Halted VMs end Stopped (time and VmHWM printed)
ferry_script_test(kube-apiserver-restart SCRIPT ${CMAKE_SOURCE_DIR}/tests/kube/apiserver-restart.sh
                  LABELS kube integration TIMEOUT 400)
ferry_script_test(kube-leader-election SCRIPT ${CMAKE_SOURCE_DIR}/tests/kube/leader-election.sh
                  LABELS kube integration TIMEOUT 400)
ferry_script_test(kube-1000-vms SCRIPT ${CMAKE_SOURCE_DIR}/tests/kube/thousand-vms.sh
                  LABELS kube integration TIMEOUT 600)
