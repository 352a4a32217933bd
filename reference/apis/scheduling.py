"""ACK's ResourcePolicy vocabulary (scheduling.alibabacloud.com/v1alpha1): the unit resources and the
conditions on which scheduling moves to the next unit; admission checks them, the scheduler acts on them."""

TRY_NEXT_POLICIES = ("LackResourceOrExceedMax", "ExceedMax", "TimeoutOrExceedMax", "LackResourceAndNoTerminating")
RESOURCES = ("ecs", "eci", "acs")
