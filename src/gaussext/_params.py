"""The scikit-learn parameter protocol, without importing scikit-learn."""

import inspect
from typing import Any, TypeVar

__all__ = ["ParamsMixin"]

_Estimator = TypeVar("_Estimator", bound="ParamsMixin")


class ParamsMixin:
    """get_params / set_params / repr from the ``__init__`` signature.

    Every ``__init__`` argument is stored unchanged as an attribute of the
    same name, as scikit-learn requires of its estimators.
    """

    @classmethod
    def _get_param_names(cls):
        signature = inspect.signature(cls.__init__)
        return sorted(name for name in signature.parameters if name != "self")

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Parameters of this estimator, as a dict (scikit-learn protocol)."""
        return {name: getattr(self, name) for name in self._get_param_names()}

    def set_params(self: _Estimator, **params: Any) -> _Estimator:
        """Set parameters by name and return self (scikit-learn protocol)."""
        valid = self._get_param_names()
        for name, value in params.items():
            if name not in valid:
                raise ValueError(
                    f"Invalid parameter {name!r} for estimator {type(self).__name__}. "
                    f"Valid parameters are: {valid!r}."
                )
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        defaults = {
            name: p.default for name, p in inspect.signature(type(self).__init__).parameters.items()
        }
        changed = [
            f"{name}={value!r}" for name, value in self.get_params().items()
            if not (value is defaults[name] or (type(value) is type(defaults[name]) and value == defaults[name]))
        ]
        return f"{type(self).__name__}({', '.join(changed)})"
