"""Evaluate a tenant's templates for given parameters, as CloudFormation would, for static checks.

AWS cannot run here, so what a deployed stack would name and grant is computed from the committed templates:
every intrinsic the templates use (``Ref``, ``Fn::Sub`` in both forms, ``Fn::Join``, ``Fn::Split``,
``Fn::Select``, ``Fn::GetAtt``, ``Fn::If`` with its conditions) is resolved for one tenant and stage; the
physical name of a resource is its name property when it has one, else a name unique to its stack (what
CloudFormation generates); ``Fn::GetAtt`` of a nested stack's ``Outputs.X`` evaluates the nested template.

Anything not modelled raises :class:`CfnEvalError` rather than being guessed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

#: the property that names a resource of each type (CloudFormation generates a name when it is absent)
NAME_PROPERTIES: dict[str, str] = {
    "AWS::DynamoDB::Table": "TableName",
    "AWS::S3::Bucket": "BucketName",
    "AWS::SNS::Topic": "TopicName",
    "AWS::SQS::Queue": "QueueName",
    "AWS::IoT::Policy": "PolicyName",
    "AWS::IoT::ThingType": "ThingTypeName",
    "AWS::IoT::TopicRule": "RuleName",
    "AWS::IAM::Role": "RoleName",
    "AWS::IAM::Policy": "PolicyName",
    "AWS::IAM::ManagedPolicy": "ManagedPolicyName",
    "AWS::Lambda::Function": "FunctionName",
    "AWS::Serverless::Function": "FunctionName",
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::CloudWatch::Alarm": "AlarmName",
    "AWS::CloudWatch::Dashboard": "DashboardName",
    "AWS::Cognito::UserPool": "UserPoolName",
    "AWS::ApiGateway::RestApi": "Name",
    "AWS::Serverless::Api": "Name",
}
_SUB_RE = re.compile(r"\$\{([^}]*)\}")


class CfnEvalError(ValueError):
    """The template uses something this evaluator does not model."""


@dataclass(frozen=True, slots=True)
class Resource:
    logical_id: str
    type: str
    name: str  # physical name (the name property, or a generated one unique to the stack)
    properties: Any  # resolved properties


class TemplateEval:
    """One stack: a template, its parameters, its name, and the nested templates it refers to."""

    def __init__(self, template: Mapping[str, Any], parameters: Mapping[str, str], *, stack_name: str,
                 region: str = "eu-west-1", account: str = "123456789012",
                 nested: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        self.template = template
        self.stack_name = stack_name
        self.region, self.account = region, account
        self._nested_templates = dict(nested or {})
        self._nested: dict[str, TemplateEval] = {}
        self._params: dict[str, Any] = {}
        for name, spec in (template.get("Parameters") or {}).items():
            if name in parameters:
                self._params[name] = parameters[name]
            elif "Default" in spec:
                self._params[name] = str(spec["Default"])
            else:
                raise CfnEvalError(f"{stack_name}: parameter {name} has no value and no default")
        self._params.update({
            "AWS::Region": region, "AWS::AccountId": account, "AWS::Partition": "aws",
            "AWS::StackName": stack_name, "AWS::URLSuffix": "amazonaws.com", "AWS::NoValue": None,
            "AWS::StackId": f"arn:aws:cloudformation:{region}:{account}:stack/{stack_name}/id",
        })
        self._resources: Mapping[str, Any] = template.get("Resources") or {}
        self._conditions: Mapping[str, Any] = template.get("Conditions") or {}

    # ---------------------------------------------------------------- resources

    def resources(self) -> Iterator[Resource]:
        for lid in sorted(self._resources):
            if not self._included(lid):
                continue
            spec = self._resources[lid]
            yield Resource(lid, spec["Type"], self.physical_name(lid), self.value(spec.get("Properties") or {}))

    def nested(self, logical_id: str) -> TemplateEval:
        """The evaluation of a nested stack (``AWS::CloudFormation::Stack``) with its resolved parameters."""
        if logical_id not in self._nested:
            spec = self._resource(logical_id)
            if spec["Type"] != "AWS::CloudFormation::Stack":
                raise CfnEvalError(f"{logical_id} is not a nested stack")
            properties = spec.get("Properties") or {}
            url = properties.get("TemplateURL")
            if url not in self._nested_templates:
                raise CfnEvalError(f"no template given for nested stack {logical_id} ({url})")
            parameters = {k: str(self.value(v)) for k, v in (properties.get("Parameters") or {}).items()}
            self._nested[logical_id] = TemplateEval(
                self._nested_templates[url], parameters, stack_name=f"{self.stack_name}-{logical_id}-NESTED",
                region=self.region, account=self.account, nested=self._nested_templates)
        return self._nested[logical_id]

    def physical_name(self, logical_id: str) -> str:
        spec = self._resource(logical_id)
        prop = NAME_PROPERTIES.get(spec["Type"])
        given = (spec.get("Properties") or {}).get(prop) if prop else None
        if given is not None:
            return str(self.value(given))
        return f"{self.stack_name}-{logical_id}-GENERATED"

    def _resource(self, logical_id: str) -> Mapping[str, Any]:
        spec = self._resources.get(logical_id)
        if spec is None:
            raise CfnEvalError(f"{self.stack_name}: no resource {logical_id}")
        return spec  # type: ignore[no-any-return]

    def _included(self, logical_id: str) -> bool:
        condition = self._resources[logical_id].get("Condition")
        return condition is None or self.condition(condition)

    # ---------------------------------------------------------------- intrinsics

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            raise CfnEvalError(f"unknown condition {name}")
        return bool(self.value(self._conditions[name]))

    def value(self, node: Any) -> Any:
        if isinstance(node, list):
            return [v for v in (self.value(item) for item in node) if v is not None]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (key, arg), = node.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Condition":
                return self.condition(arg)
            if key.startswith("Fn::"):
                return self._function(key, arg)
        return {k: v for k, v in ((k, self.value(v)) for k, v in node.items()) if v is not None}

    def _function(self, key: str, arg: Any) -> Any:
        if key == "Fn::Sub":
            return self._sub(arg)
        if key == "Fn::Join":
            sep, items = arg
            return str(sep).join(str(v) for v in self.value(items))
        if key == "Fn::Split":
            sep, text = arg
            return str(self.value(text)).split(sep)
        if key == "Fn::Select":
            index, items = arg
            return self.value(items)[int(self.value(index))]
        if key == "Fn::GetAtt":
            lid, attribute = arg if isinstance(arg, list) else str(arg).split(".", 1)
            return self.get_att(lid, attribute)
        if key == "Fn::If":
            name, yes, no = arg
            return self.value(yes if self.condition(name) else no)
        if key == "Fn::Equals":
            left, right = self.value(arg)
            return str(left) == str(right)
        if key == "Fn::Not":
            return not self.value(arg[0])
        if key == "Fn::And":
            return all(self.value(arg))
        if key == "Fn::Or":
            return any(self.value(arg))
        raise CfnEvalError(f"{key} is not modelled")

    def _sub(self, arg: Any) -> str:
        text, local = (arg, {}) if isinstance(arg, str) else (arg[0], self.value(arg[1]))

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in local:
                return str(local[name])
            if "." in name and name.split(".", 1)[0] in self._resources:
                return str(self.get_att(*name.split(".", 1)))
            return str(self.ref(name))

        return _SUB_RE.sub(replace, text)

    def ref(self, name: str) -> Any:
        if name in self._params:
            return self._params[name]
        spec = self._resource(name)
        kind, physical = spec["Type"], self.physical_name(name)
        if kind == "AWS::SNS::Topic":
            return f"arn:aws:sns:{self.region}:{self.account}:{physical}"
        if kind == "AWS::SQS::Queue":
            return f"https://sqs.{self.region}.amazonaws.com/{self.account}/{physical}"
        if kind == "AWS::CloudFormation::Stack":
            return f"arn:aws:cloudformation:{self.region}:{self.account}:stack/{physical}/id"
        if kind == "AWS::SecretsManager::Secret":  # its ARN; AWS appends six random characters to the name
            return f"arn:aws:secretsmanager:{self.region}:{self.account}:secret:{physical}-AbCdEf"
        return physical

    def get_att(self, logical_id: str, attribute: str) -> Any:
        spec = self._resource(logical_id)
        kind = spec["Type"]
        if kind == "AWS::CloudFormation::Stack" and attribute.startswith("Outputs."):
            nested = self.nested(logical_id)
            outputs = nested.template.get("Outputs") or {}
            output = attribute.split(".", 1)[1]
            if output not in outputs:
                raise CfnEvalError(f"nested stack {logical_id} has no output {output}")
            return nested.value(outputs[output]["Value"])
        if attribute != "Arn":
            if attribute in ("Name", "TopicName", "QueueName"):
                return self.physical_name(logical_id)
            return f"{self.physical_name(logical_id)}.{attribute}"
        return self.arn(kind, self.physical_name(logical_id))

    def arn(self, kind: str, name: str) -> str:
        r, a = self.region, self.account
        arns = {
            "AWS::DynamoDB::Table": f"arn:aws:dynamodb:{r}:{a}:table/{name}",
            "AWS::S3::Bucket": f"arn:aws:s3:::{name}",
            "AWS::SNS::Topic": f"arn:aws:sns:{r}:{a}:{name}",
            "AWS::SQS::Queue": f"arn:aws:sqs:{r}:{a}:{name}",
            "AWS::IoT::Policy": f"arn:aws:iot:{r}:{a}:policy/{name}",
            "AWS::IoT::ThingType": f"arn:aws:iot:{r}:{a}:thingtype/{name}",
            "AWS::IoT::TopicRule": f"arn:aws:iot:{r}:{a}:rule/{name}",
            "AWS::IAM::Role": f"arn:aws:iam::{a}:role/{name}",
            "AWS::IAM::ManagedPolicy": f"arn:aws:iam::{a}:policy/{name}",
            "AWS::Lambda::Function": f"arn:aws:lambda:{r}:{a}:function:{name}",
            "AWS::Serverless::Function": f"arn:aws:lambda:{r}:{a}:function:{name}",
            "AWS::Logs::LogGroup": f"arn:aws:logs:{r}:{a}:log-group:{name}:*",
            "AWS::Cognito::UserPool": f"arn:aws:cognito-idp:{r}:{a}:userpool/{name}",
            "AWS::CloudWatch::Alarm": f"arn:aws:cloudwatch:{r}:{a}:alarm:{name}",
        }
        if kind not in arns:
            raise CfnEvalError(f"the ARN of a {kind} is not modelled")
        return arns[kind]


def policy_documents(node: Any) -> Iterator[Mapping[str, Any]]:
    """Every policy document in a resolved properties tree (``PolicyDocument``, ``AssumeRolePolicyDocument``
    excluded, and SAM's inline statement lists under ``Policies``)."""
    if isinstance(node, list):
        for item in node:
            yield from policy_documents(item)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key == "PolicyDocument" and isinstance(value, dict):
                yield value
            elif key == "Policies" and isinstance(value, list):
                for item in value:
                    if isinstance(item, dict) and "Statement" in item:
                        yield item
                    else:
                        yield from policy_documents(item)
            elif key != "AssumeRolePolicyDocument":
                yield from policy_documents(value)


def statements(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    found = document.get("Statement", [])
    return [found] if isinstance(found, dict) else list(found)
