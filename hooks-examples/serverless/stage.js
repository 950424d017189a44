// `${file(./stage.js):alphanumeric}`: the stage as the canary plugin writes it into logical ids
// (`Hello<stage>DeploymentApplication`), with every character but letters and digits dropped,
// so that a stage such as `my-stage` yields a reference that exists. Serverless v3 calls an
// exported function of a JS variable file with the resolver of other variables.
module.exports.alphanumeric = async ({ resolveVariable }) => {
  const stage = String(await resolveVariable("sls:stage"));
  const kept = stage.replace(/[^A-Za-z0-9]/g, "");
  if (kept.length === 0) {
    throw new Error(`stage \`${stage}\` has no letter or digit; the canary plugin cannot name its CodeDeploy application after it`);
  }
  return kept;
};

// `${file(./stage.js):emailNotifications}`: the alerts topic's subscriptions, an email one
// when the `notificationEmail` param is set (`--param="notificationEmail=team@example.com"`).
module.exports.emailNotifications = async ({ resolveVariable }) => {
  const email = String((await resolveVariable("param:notificationEmail")) || "").trim();
  return email ? [{ protocol: "email", endpoint: email }] : [];
};
